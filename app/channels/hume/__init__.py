"""Hume EVI custom language model: the socket mode (`/llm`) and the SSE mode (chat completions)."""
