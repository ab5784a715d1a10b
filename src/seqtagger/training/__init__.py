"""Training beyond Lightning's loop: start-up checks and preparation, and the run's artifacts."""
