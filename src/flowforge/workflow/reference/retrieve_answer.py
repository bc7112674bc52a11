async def solve(problem, ops):
    """QA: retrieve the most relevant passages, answer from them, keep the answer short."""
    passages = await ops.retrieve(query=problem, k=3)
    context = "\n".join(passages)
    result = await ops.answer_generate(input=f"Context:\n{context}\n\nQuestion: {problem}")
    return await ops.extract(text="Answer: " + result["answer"], kind="span")
