"""Language side of callpulse: transcript segments, their polarity, and an optional transcriber."""
