"""The product's operations: each public function is one transaction over the store that
applies the core rules and raises ``frontdesk.errors`` for anything the caller got wrong."""
