"""The language-model brain: its prompt, the reading of its streamed answer, and the call itself."""
