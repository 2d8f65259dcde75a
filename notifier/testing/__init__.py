"""Local stand-ins that speak the providers' real protocols: an aiosmtpd SMTP server that records and
misbehaves on cue, and a Twilio Messages API stand-in with signed status callbacks. Used by the tests,
the demo and the benchmarks; never by the sending code itself."""
