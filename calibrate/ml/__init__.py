"""Machine learning on the differentiable simulator: model learning, robust optimal
control and learned controllers. Submodules import JAX; import them where needed."""
