"""The domain vocabulary, boundary models and persistence of crisisflow."""
