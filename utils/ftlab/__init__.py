"""ftlab: the Fine-Tuning Lab's shared package. One small module per concern; labs import from here."""

__version__ = "0.1.0"
