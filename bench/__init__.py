"""`make bench`: the speed of the whole path, as ratios against baselines measured in the same run."""
