"""awsrun: run a command with only the temporary credentials of an assumed IAM role."""

__all__ = ["__version__"]

__version__ = "0.1.0"
