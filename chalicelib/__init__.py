"""Business logic of the Reddit hate-speech pipeline: plain Python, no Chalice."""
