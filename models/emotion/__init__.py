"""Training, export and evaluation of the speech-emotion model (torch needed only by net/train/export)."""
