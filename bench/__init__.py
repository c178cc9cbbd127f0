"""`make bench`: the speed of the whole path, as ratios against same-run baselines."""
