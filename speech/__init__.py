"""Offline voice for the home gateway: intents (data-driven lexicon), the dialogue state
machine, vosk recognition, pyopenjtalk prompts and sounddevice audio.

Pure core: speech.intents, speech.dialogue. Adapters: speech.recognition, speech.tts,
speech.audio, speech.voice. The gateway depends on speech.ports (Voice, Heard) only.
"""
