import GembaCore
