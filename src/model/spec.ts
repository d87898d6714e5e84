// Where the format helpers used to live; they are src/spec/formats.ts now (tests import both).
export * from '../spec/formats.js';
