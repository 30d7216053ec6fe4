"""The chart domain: matplotlib code rendered, traced to its lines and checked for defects."""
