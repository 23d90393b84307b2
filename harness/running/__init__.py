"""Running a suite: the plan of missing runs, the loop over an executor, progress lines and the suite's outcome."""
