"""The main job: runs the tsumugi stages end to end (``python -m pipeline``), each in its own process."""
