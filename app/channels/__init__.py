"""Protocol adapters: each door's frames in, the shared Turn/Reply contract out."""
