"""rundiff ablate: short re-trainings that vary one parameter."""
