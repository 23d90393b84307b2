"""The training protocol: devices, training data, the objectives, schedules, parameter groups, one optimiser step, the untrained reference, pretraining and the loop that trains to the threshold."""
