"""Export: the trained score as one MLflow pyfunc model, registered and promoted by alias."""
