"""Intent lexicon data files (<lang>.toml); a package only so wheels ship the files."""
