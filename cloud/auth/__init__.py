"""Staff authentication and access control: passwords, sessions, CSRF, rate limits, scopes."""
