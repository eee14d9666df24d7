"""Stage 5, inference: the generator interface, the shared question -> SQL path (pipeline), sandboxed
execution entry, voting, self-correction, and what users call: ask, serve, export, prompt files."""
