"""Speed measurements of the installed credhelper (issue 15): benchmarks/speed.py."""
