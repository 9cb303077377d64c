"""Registry service: 检查对象名录库 (enterprises, licences, sites) and 执法检查人员名录库."""
