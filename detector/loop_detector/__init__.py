"""The detector node: serves inference, follows the Loop's deployment target, feeds the Loop's inbox."""
