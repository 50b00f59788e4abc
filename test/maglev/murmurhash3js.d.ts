// Types for the test-only oracle package (it ships none).
declare module 'murmurhash3js' {
  const murmurhash3js: { x86: { hash32(input: string, seed?: number): number } };
  export default murmurhash3js;
}
