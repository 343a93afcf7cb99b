// Every test file counts towards the coverage of all of lib/, and nothing else.
export default () => ['lib/**/*.ts']
