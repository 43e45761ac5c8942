"""Inference backends behind one interface (`Backend`), chosen from the model file."""
