"""The pure domain of crisisflow: vocabulary, boundary models, errors, policy and rules; nothing here touches a
database (the workflow sandbox shares it with the host)."""
