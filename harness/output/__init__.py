"""The output folder: the name of each file, the typed run record, the store (atomic commits, resume, the manifest), re-probing finished runs and filling an older manifest's plugin facts."""
