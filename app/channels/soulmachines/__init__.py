"""Soul Machines orchestration server (`/ws`): one socket per Digital Person session."""
