"""What comes back: provider status callbacks (Twilio, signed), bounces (classified hard / soft and
applied to the row they name), and everything else customers and providers send us after a notice."""
