"""Docker test bed for prereqos: images (build-images.sh) and harness (harness.py)."""
