"""Support's work: the queue of customers' replies (``queue``)."""
