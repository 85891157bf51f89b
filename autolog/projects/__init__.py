"""Projects: what a run needs to be run again (its code, environment and inputs), named entry
points, and ``autolog rerun``, which rebuilds a run and says whether it reproduced."""
