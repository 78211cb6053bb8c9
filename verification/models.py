# The review queue, reviews and their history arrive with the verification issue.
