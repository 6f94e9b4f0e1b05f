"""Soul Machines Skills API: the REST skill (`/skills/*`) and the async skill socket (`/skills/ws`)."""
