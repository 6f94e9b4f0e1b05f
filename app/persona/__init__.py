"""The persona's brain: pure, deterministic domain logic with no I/O.

Everything here is a function of (state, turn, clock, seed); `store/` persists it and `worker/`
drives it. Nothing in this package imports from store, bus, channels or FastAPI.
"""
