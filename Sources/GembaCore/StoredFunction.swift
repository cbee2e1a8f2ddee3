/// A function to keep in a `Mutex` (or another container read in place). Kept there bare, a
/// function is re-abstracted at every `withLock`: each access wraps it in two more thunks and
/// writes that back, so every call afterwards runs through all of them, slower and deeper after
/// each read until the stack overflows. Inside this struct it is stored once, as it is.
public struct StoredFunction<Function: Sendable>: Sendable {
    public let function: Function

    public init(_ function: Function) {
        self.function = function
    }
}
