"""Redis: the turn queue with per-session order, reply routing over pub/sub. Owns every key name."""
