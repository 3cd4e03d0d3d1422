"""``python -m train.reranker``."""

from train.reranker.cli import main

if __name__ == "__main__":
    main()
