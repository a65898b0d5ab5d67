"""The labelling web app (FastAPI): built by the labelling issue."""
