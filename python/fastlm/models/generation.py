class GenerationConfig: pass
def generate(): pass
