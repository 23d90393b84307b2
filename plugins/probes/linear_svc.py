"""Work in progress: registers no component yet."""
