/**
 * Every symbol the package exports, and every public member of its classes and interfaces,
 * inherited ones included, carries TSDoc: it is what an editor shows a user on hover.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const entry = fileURLToPath(new URL("../../src/index.ts", import.meta.url));

/** Declarations from lib files and dependencies (Error's `message`, xmldom's Document) are theirs to document. */
function isOurs(declaration: ts.Declaration): boolean {
  return !declaration.getSourceFile().fileName.includes("/node_modules/");
}

function hasDoc(declaration: ts.Node): boolean {
  return ts.getJSDocCommentsAndTags(declaration).length > 0;
}

function isHidden(declaration: ts.Declaration): boolean {
  const modifiers = ts.canHaveModifiers(declaration) ? (ts.getModifiers(declaration) ?? []) : [];
  const named = (declaration as { name?: ts.Node }).name;
  return (
    modifiers.some((modifier) => modifier.kind === ts.SyntaxKind.PrivateKeyword || modifier.kind === ts.SyntaxKind.ProtectedKeyword) ||
    (named !== undefined && ts.isPrivateIdentifier(named)) ||
    ts.getJSDocTags(declaration).some((tag) => tag.tagName.text === "internal")
  );
}

/** Overloaded functions and constructors: each overload needs its doc, the implementation does not. */
function signaturesToDocument(declarations: readonly ts.Declaration[]): ts.Declaration[] {
  const overloads = declarations.filter((declaration) => !("body" in declaration) || declaration.body === undefined);
  return overloads.length > 0 ? overloads : [...declarations];
}

test("every export of src/index.ts and every public member has TSDoc", () => {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    allowImportingTsExtensions: true,
    noEmit: true,
    types: ["node"],
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const missing = new Set<string>();

  const checkMembers = (owner: string, properties: ts.Symbol[]): void => {
    for (const property of properties) {
      if (property.name === "prototype") continue;
      const declarations = (property.getDeclarations() ?? []).filter((declaration) => isOurs(declaration) && !isHidden(declaration));
      if (declarations.length > 0 && !signaturesToDocument(declarations).every(hasDoc)) missing.add(`${owner}.${property.name}`);
    }
  };

  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declarations = (symbol.getDeclarations() ?? []).filter(isOurs);
    if (declarations.length === 0) continue;
    if (!signaturesToDocument(declarations).every(hasDoc)) missing.add(exported.name);
    if (symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface)) {
      checkMembers(exported.name, checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)));
    }
    if (symbol.flags & ts.SymbolFlags.Class) {
      checkMembers(exported.name, checker.getPropertiesOfType(checker.getTypeOfSymbol(symbol)));
      const constructors = declarations.flatMap((declaration) => (ts.isClassDeclaration(declaration) ? declaration.members.filter(ts.isConstructorDeclaration) : []));
      const visible = constructors.filter((constructor) => !isHidden(constructor));
      if (visible.length > 0 && !signaturesToDocument(visible).every(hasDoc)) missing.add(`${exported.name}.constructor`);
    }
  }
  assert.deepEqual([...missing].sort(), []);
});
