"""What a suite asks for: the config sections, checkpoints, pretraining stages, the suite file and its validation, the runs it expands into and the resolved design the analysis reads."""
